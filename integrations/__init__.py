"""Framework glue (installed as ``reward_judge.integrations``): TRL, PPO, best-of-N, servers.

The core package never imports this one.
"""
