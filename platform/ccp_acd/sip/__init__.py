"""The SIP trunk adapter (``ccp sip``): a B2BUA between a carrier and the tenant's agents (docs/voice.md).

Keep this file free of imports: the operator imports ``ccp_acd.sip.prompts`` to validate prompts in
Trunk and Queue specs, and must not pull in pyVoIP or gRPC through the package.
"""
