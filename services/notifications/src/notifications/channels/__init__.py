"""The ways a message leaves the service, each behind the one interface of channels/base.py."""
