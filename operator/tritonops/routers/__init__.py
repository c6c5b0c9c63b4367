"""Traffic routers: how a canary weight becomes traffic (replicas or gatewayAPI)."""
