class Secret:
    """cncf.kubernetes Secret(deploy_type, deploy_target, secret, key=None, items=None)."""

    def __init__(self, deploy_type, deploy_target, secret, key=None, items=None):
        if deploy_type not in ("env", "volume"):
            raise ValueError(f"Invalid type: {deploy_type!r}")
        if deploy_type == "env" and (deploy_target is None or key is None):
            raise ValueError("an env Secret needs deploy_target and key")
        self.deploy_type, self.deploy_target, self.secret, self.key = deploy_type, deploy_target, secret, key
