"""State: the etcd key layout, the codec, and the etcd-backed store."""
