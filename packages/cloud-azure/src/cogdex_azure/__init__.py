"""cogdex plugin for Azure Blob Storage and Microsoft Planetary Computer signing."""
