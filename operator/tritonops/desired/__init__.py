"""Pure builders: a ModelDeployment in, Kubernetes manifests out. No I/O here."""
