"""The services directory: models, repository, import/export, validation, audit, access control, migrations."""
