"""The lab's mail store: durable Maildirs shared by SMTP, IMAP and POP3."""

from lab.store.maildir import MailStore, Mailbox, MessageNotFound, StoredMessage
from lab.store.names import SYSTEM_FLAGS, UnsafeUserName, normalise_user

__all__ = [
    "MailStore",
    "Mailbox",
    "MessageNotFound",
    "StoredMessage",
    "SYSTEM_FLAGS",
    "UnsafeUserName",
    "normalise_user",
]
