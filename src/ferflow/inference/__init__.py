"""Using a trained model: your own photos and videos (ferflow predict), exports."""
