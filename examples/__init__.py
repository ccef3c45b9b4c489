"""Example networks brought into jaxvis by a plugin path (``examples.tiny_resnet:make_net``)."""
