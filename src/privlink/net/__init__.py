"""Address realms: how a VPC address becomes something a process can bind or dial."""
