"""reconciler: GitOps for Mistral AI's La Plateforme.

Data flows one way: load desired state -> fetch live state -> diff -> plan -> render | apply.
The pure core (``model``, ``diff``, ``plan``, ``render``) never imports a provider's wire
format; providers live under ``reconciler.platform`` and speak the ``Provider`` protocol.
"""

__version__ = "0.1.0"
