"""``ccp what-if``: replay a queue configuration against a simulated or recorded load before applying it.

``engine`` is a discrete-event simulation on a virtual clock that drives the
real planner (``domain.routing.plan``) the way a node does; ``load`` builds
the calls and agents it plays (Poisson draws, or a tenant's call records);
``report`` turns runs into the KPIs of docs/kpis.md with intervals over
replications; ``cli`` is the command (the only module here doing I/O).
docs/what-if.md says what is modelled and what is not.
"""
