"""By-the-docs peers: webhook handlers written the way the Powertools and provider SDK docs show, so the
hub's ingest has something real to be measured against. Not part of the hub; never deployed."""
