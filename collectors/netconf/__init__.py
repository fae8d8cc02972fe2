"""NETCONF: XML replies -> the same normalised records SNMP produces.

Safe parsing of reply bytes (:mod:`.xml`), the profile-driven extractor that
fills the shared field pipeline's source keys from XML (:mod:`.extract`), the
shipped NETCONF profiles (``profiles/``, ``protocol: netconf``, matched by
hello capabilities), NETCONF sessions over SSH (:mod:`.session`), the
device options (:mod:`.options`) and the ``netconf`` driver (:mod:`.driver`).
"""
