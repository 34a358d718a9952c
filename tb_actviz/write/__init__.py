"""Write: the background job that formats a captured log and the event-file
writer that puts it on disk, with the failure policy of logging."""
