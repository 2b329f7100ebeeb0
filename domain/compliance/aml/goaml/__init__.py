"""goAML (UNODC) report documents: the FIU's XSD, loaded and patched for lxml (schema.py), and the STR/SAR
document built from a report (document.py)."""
