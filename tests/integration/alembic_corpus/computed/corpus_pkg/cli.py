# As neutron.db.migration.cli names its branches.
CONTRACT_BRANCH = 'contract'
EXPAND_BRANCH = 'expand'
