"""Tools on the public environment API: one rollout loop and what is built on it.

- ``rollout``: the episode loop (``reset``/``step``/``info``) and its records;
- ``baselines``: random, hold and OpenDSS-controller (``dss``) policies;
- ``runner``, ``evaluation``, ``tables``: ``marl-vvc run`` and ``eval``;
- ``recording``, ``plots``: ``marl-vvc plot``;
- ``bench``, ``timing``, ``bare_engine``, ``memory``, ``report``: ``marl-vvc bench``;
- ``checkpoints``, ``observation_scaling``: trained policies of the examples;
- ``cli``: the ``marl-vvc`` command.
"""
