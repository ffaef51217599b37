"""What the process needs before it can trade: settings, secrets, logging, the command line."""
