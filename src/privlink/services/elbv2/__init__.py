"""ELBv2: load balancers, target groups, listeners, targets and their health."""
