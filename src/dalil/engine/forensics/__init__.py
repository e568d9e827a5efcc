"""Disk-image forensics, layered like The Sleuth Kit.

``image`` (containers: raw, split raw, EWF, QCOW2, VMDK, VHD) -> ``volume`` (partition
tables) -> ``filesystem`` (a file system at a byte offset) -> ``walk`` (every name,
allocated or deleted) -> ``extract`` (content, safe output names, provenance) and
``timeline`` (TSK bodyfile). Built on pytsk3 and the libyal bindings; no Django.
"""
