"""The CRM side of the hub: the opportunity snapshot the connectors fetch, and completeness rules."""
