"""A local control plane (etcd + apiextensions-apiserver + discovery front) for tests, demo."""
