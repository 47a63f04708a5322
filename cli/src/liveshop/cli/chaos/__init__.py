"""The chaos suite: kill -9 service instances, PostgreSQL and Kafka brokers under a mixed, bounded load,
then settle and check the system's invariants (``scripts/chaos``; docs/faults.md#the-chaos-suite).

- :mod:`.stack`      the processes: two instances of every service on a namespace, and the chaos run's
                     own PostgreSQL and Kafka (one node, or a 3-node KRaft cluster) it may kill;
- :mod:`.load`       the load: ONLINE and BNPL orders driven to a terminal state, declines, timeouts,
                     cancellations, red-envelope claims, ISV reports on HTTP and Kafka, poison records;
- :mod:`.invariants` the checks after a scenario settled;
- :mod:`.runner`     the scenarios, the table, the JSON report (``python -m liveshop.cli.chaos``).
"""
