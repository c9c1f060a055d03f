"""How the ``ccp`` commands that talk to etcd (apply, token issue, site, what-if --recorded) choose its transport.

The rule is the nodes' and the operator's (``tls.etcd_security``): TLS with CCP_ETCD_CA_FILE (and
CCP_ETCD_CERT_FILE / CCP_ETCD_KEY_FILE for etcd's --client-cert-auth), or plaintext asked for with
``--etcd-plaintext`` / CCP_ETCD_PLAINTEXT=true; neither, or both, is a usage error before anything connects. A
CLI is a client, not a server, but the same explicit choice keeps a command from silently sending tokens' hashes
and routing config in clear to an etcd that was meant to be reached over TLS.

Not for: the gRPC commands (``ccp report``, ``ccp wallboard``), which take ``--ca`` / ``--plaintext``.
"""

from __future__ import annotations

import click

from ccp_acd.tls import ChannelSecurity

plaintext_option = click.option(
    "--etcd-plaintext", envvar="CCP_ETCD_PLAINTEXT", is_flag=True,
    help="Plaintext etcd (or env CCP_ETCD_PLAINTEXT=true): local development only. Without it etcd is reached "
         "over TLS with CCP_ETCD_CA_FILE (and CCP_ETCD_CERT_FILE, CCP_ETCD_KEY_FILE).",
)


def security(plaintext: bool) -> ChannelSecurity:
    """The etcd client security of a command: ``plaintext`` is its --etcd-plaintext (which reads the env too)."""
    try:
        return ChannelSecurity.etcd_from_env(plaintext=plaintext)
    except ValueError as e:
        raise click.UsageError(f"{e} (on the command line: --etcd-plaintext)") from None
