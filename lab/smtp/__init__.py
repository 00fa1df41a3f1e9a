"""The lab's SMTP listeners (aiosmtpd): inbound MX, submission, relay."""
