"""Secure LDAP of the Edge host (port 50636).

``lab.ldap.ber`` is the BER subset LDAPv3 needs, ``lab.ldap.messages`` the
LDAP messages over it, ``lab.ldap.protocol`` one session without I/O, and
``lab.ldap.server`` the LDAPS listener.
"""

from lab.ldap.protocol import LabDirectory, LdapSession
from lab.ldap.server import start_ldaps

__all__ = ["LabDirectory", "LdapSession", "start_ldaps"]
