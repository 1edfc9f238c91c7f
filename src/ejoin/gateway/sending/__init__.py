"""The send engine, in modules with one job each.

- ``states``: task and job states, the task life cycle (imported by the store, reports and web too);
- ``tasks``: tasks and their lanes;
- ``routing``: which port may send which lane, the queue of lanes oldest first, ``intvl`` per lane and port;
- ``intake``: goip_post_sms validated and committed;
- ``sender``: the per-port senders, the only caller of the modem driver;
- ``recovery``: the queue after a stop or crash;
- ``engine``: ties them together (``SendEngine``).

Nothing is imported here, so that ``states`` can be imported from anywhere without the engine.
"""
