"""Data: folder scan and validation, the tf.data pipeline, the bundled sample data. No Qt."""
