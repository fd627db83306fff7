"""Platform providers: La Plateforme's Admin API client and its local sandbox.

``reconciler.platform.mistral`` is the only code that knows the Admin API's wire format;
``reconciler.platform.sandbox`` is a local server that speaks the same API;
:mod:`.vocabulary` records what both name (workspace roles, the model catalog),
:mod:`.plugin` describes La Plateforme to :mod:`reconciler.providers`,
``reconciler.platform.anthropic`` is Anthropic's Admin API client and its plug-in, and
:mod:`.policy_only` describes Groq and Cohere, which have no admin API (application-side
policy only). Importing this package registers them there (the registry imports the
package on its first lookup); the registration loads no HTTP client.
"""

from reconciler.platform.anthropic.plugin import ANTHROPIC
from reconciler.platform.plugin import MISTRAL
from reconciler.platform.policy_only import COHERE, GROQ
from reconciler.providers import register

for _spec in (MISTRAL, ANTHROPIC, GROQ, COHERE):
    register(_spec)
