"""Adoption: an organisation already on the platform, written as a desired state.

``reconciler import DIR`` reads the live organisation (through the desired state's
provider, as ``plan`` does) and writes what it finds into DIR, so that a ``plan`` right
after shows no change but what the YAML cannot express, which the import lists:

- :mod:`.documents` (pure): the live state as desired-state entries, each checked against
  the schema, and the notes on what cannot be written;
- :mod:`.yaml_text` and :mod:`.merge` (pure): ruamel.yaml round trip, so re-importing
  over edited files keeps their comments and key order;
- :mod:`.people` (pure): the live people and groups as ``people.yaml`` and
  ``groups.yaml`` entries; workspace membership a group grants stays the group's;
- :mod:`.directory`, :mod:`.workspaces`, :mod:`.people_files` and :mod:`.files`: the
  files, read, merged and written (the only modules here doing I/O);
- :mod:`.ledger`: imported keys recorded as managed in the ownership record, their
  secret unknown.

Sits beside :mod:`reconciler.apply`: above the desired-state layer, the provider registry
and the secret stores (where the ownership record is), below the session, which runs an
import (:meth:`reconciler.session.Session.import_organization`), and the command line.
"""

from reconciler.adoption.directory import import_into
from reconciler.adoption.files import ImportReport
from reconciler.adoption.ledger import adopt_imported_keys

__all__ = ["ImportReport", "adopt_imported_keys", "import_into"]
