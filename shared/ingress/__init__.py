"""The shared ingress path: HTTP shapes, the provider pipeline, and its Lambda adapter."""
