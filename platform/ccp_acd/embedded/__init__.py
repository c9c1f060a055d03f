"""The embedded platform: local etcd and ACD node processes on one machine (``ccp up``)."""
