"""client-go's tools/cache and util/workqueue, in asyncio idiom.

Reflector (list+watch) -> DeltaFIFO -> SharedInformer (Indexer, then handlers); workqueues with
client-go's rate limiters for the work that handlers hand off.

Import the submodules directly: this package re-exports nothing, so that informers fed from
memory (the offline dry run) never load the Kubernetes client library that informers.factory
needs for the API.
"""
