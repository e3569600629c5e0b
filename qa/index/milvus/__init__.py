"""The index on Milvus (Milvus Lite or a server): the local store's contract over two collections."""
