"""privlink's data plane: endpoint listeners, the TCP relay, PROXY protocol v2, targets."""
