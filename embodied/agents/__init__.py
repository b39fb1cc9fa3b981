"""Agents, one module each. Importing this package registers them."""
from embodied import registry
from embodied.agents.cow import CowAgent, CowConfig
from embodied.agents.csr_config import CSRAgentConfig, CSRPaperConfig, LazyCSRAgent
from embodied.agents.noop import NoopAgent, NoopConfig
from embodied.agents.oracle import OracleAgent, OracleConfig
from embodied.agents.random import RandomAgent, RandomConfig
from embodied.agents.rearrange_oracle import RearrangeOracleAgent, RearrangeOracleConfig
from embodied.agents.sfa import SfaAgent, SfaConfig

#: modules registry.load_builtin() leaves unimported: registered above through a light stand-in
#: (LazyCSRAgent) that imports them, and torch with them, when an agent is built
LAZY_MODULES = ("csr", "csr_navigation")

registry.register_agent("random", RandomAgent, RandomConfig)
registry.register_agent("oracle", OracleAgent, OracleConfig)
registry.register_agent("cow", CowAgent, CowConfig)
registry.register_agent("sfa", SfaAgent, SfaConfig)
registry.register_agent("noop", NoopAgent, NoopConfig)
registry.register_agent("rearrange_oracle", RearrangeOracleAgent, RearrangeOracleConfig)
registry.register_agent("csr", LazyCSRAgent, CSRAgentConfig)          # torch is imported when one is built
registry.register_agent("csr_paper", LazyCSRAgent, CSRPaperConfig)
