"""EC2: networking primitives (VPCs, subnets, security groups, ENIs) and PrivateLink."""
