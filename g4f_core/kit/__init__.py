"""The provider-author kit: the `new-provider` scaffold and the store of `check` outcomes."""
