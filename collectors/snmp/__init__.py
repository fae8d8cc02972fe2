"""SNMP access: a small client interface (:mod:`collectors.snmp.base`) and its
pysnmp 7 implementation (:mod:`collectors.snmp.pysnmp_client`)."""
