"""Notifications that leave privlink: SNS deliveries to HTTP/S subscribers."""
