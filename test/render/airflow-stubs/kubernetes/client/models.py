"""kubernetes.client models used by dagwright DAG files, with their real keyword names."""


class _Model:
    FIELDS = ()

    def __init__(self, **kwargs):
        unknown = set(kwargs) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword arguments {sorted(unknown)}")
        self.__dict__.update({f: kwargs.get(f) for f in self.FIELDS})

    def to_dict(self):
        return {f: getattr(self, f) for f in self.FIELDS if getattr(self, f) is not None}


class V1ResourceRequirements(_Model):
    FIELDS = ("claims", "limits", "requests")


class V1Toleration(_Model):
    FIELDS = ("effect", "key", "operator", "toleration_seconds", "value")
