from ccp_acd.state.store import QueuePlacement, TenantConfig
from ccp_operator.placement import place

TENANT = TenantConfig(name="t", home_site="a", failover_sites=("b", "c"))


def test_the_home_site_owns_and_failover_sites_stand_by_in_order():
    assert place(TENANT) == QueuePlacement("a", ("b", "c"))


def test_a_site_declared_down_is_passed_over():
    assert place(TENANT, down={"a"}) == QueuePlacement("b", ("c",))
    assert place(TENANT, down={"b"}) == QueuePlacement("a", ("c",))


def test_with_every_site_down_the_home_site_keeps_it():
    assert place(TENANT, down={"a", "b", "c"}) == QueuePlacement("a", ("b", "c"))


def test_a_home_site_repeated_among_failovers_is_not_its_own_standby():
    assert place(TenantConfig(name="t", home_site="a", failover_sites=("a", "b"))) == QueuePlacement("a", ("b",))
