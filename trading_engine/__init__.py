"""The trading engine: the per-item pipeline (`ExecManager`) and the strategies it runs."""
