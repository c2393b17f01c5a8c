"""POST /verify and the hub's online checks: the offline verifier, plus status lists and the issuance records."""
