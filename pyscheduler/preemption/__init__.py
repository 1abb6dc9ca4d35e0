"""Preemption: choosing victims (``evaluator``), PDB accounting (``pdb``), candidate choice
(``candidates``) and carrying it out through the API (``executor`` over a ``PreemptionClient``).
The DefaultPreemption plugin (pyscheduler/plugins/default_preemption.py) ties them together."""

from pyscheduler.preemption.candidates import Candidate
from pyscheduler.preemption.client import PreemptionClient
from pyscheduler.preemption.evaluator import Evaluator, courtesy_rule
from pyscheduler.preemption.executor import Executor
from pyscheduler.preemption.pdb import PDBChecker

__all__ = ["Candidate", "Evaluator", "Executor", "PDBChecker", "PreemptionClient",
           "courtesy_rule"]
