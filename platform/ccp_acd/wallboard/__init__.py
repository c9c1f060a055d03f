"""The live wallboard: a snapshot of a tenant's queues (``snapshot``), served to a web page over
server-sent events (``web``) and drawn in a terminal (``terminal``). docs/wallboard.md explains it."""
