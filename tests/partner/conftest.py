from tests.relay.conftest import make_world  # noqa: F401 - the shared fixture
