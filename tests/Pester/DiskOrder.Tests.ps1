# Writing to the wrong disk is the worst thing GuestFs could do. The guest kernel names
# hot-plugged SCSI disks in the order their probes finish, so a session with several
# disks must prove, on every launch path, that /dev/sdX is the X-th image it was given.
# These tests open four disks of distinct sizes again and again while the machine's
# cores are busy, check every name by size, and check that a write to /dev/sdX lands
# in the X-th file on the host. A warm launch whose guest named the disks out of order
# must fall back to a cold boot (the unit tests in DiskOrderTests prove the check).

Describe 'Several disks keep their order on every launch path' -Tag 'Appliance', 'DiskOrder' {
    BeforeAll {
        . $PSScriptRoot/TestSupport.ps1
        $script:work = Join-Path ([IO.Path]::GetTempPath()) ("gfs-order-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
        New-Item -ItemType Directory $work | Out-Null
        # Distinct sizes identify each image from inside the guest.
        $script:sizesMiB = 40, 48, 56, 64
        $script:images = for ($i = 0; $i -lt $sizesMiB.Count; $i++) {
            $p = Join-Path $work "disk$i.img"
            & qemu-img create -q -f raw $p "$($sizesMiB[$i])M"
            if ($LASTEXITCODE -ne 0) { throw "qemu-img create $p failed" }
            $p
        }
        # Busy cores, as on the machine where the names swapped (bounded: they stop by themselves).
        $script:load = 1..([Environment]::ProcessorCount) | ForEach-Object {
            Start-Process -FilePath timeout -ArgumentList '600 sh -c "while :; do :; done"' -PassThru
        }

        $script:CheckNames = {
            param($d, [string[]] $paths)
            $devices = @(Invoke-GuestFsApi -Disk $d list_devices)
            $devices.Count | Should -Be $paths.Count
            for ($i = 0; $i -lt $paths.Count; $i++) {
                $expected = (Get-Item $paths[$i]).Length
                $dev = '/dev/sd' + [char]([int][char]'a' + $i)
                $devices[$i] | Should -Be $dev
                Invoke-GuestFsApi -Disk $d blockdev_getsize64 -Arguments @{ device = $dev } | Should -Be $expected -Because "$dev must be $($paths[$i])"
            }
        }
    }
    AfterAll {
        # SIGTERM to timeout, which passes it on to its busy child (Stop-Process sends SIGKILL,
        # which would leave the child spinning).
        $load | ForEach-Object { & kill -TERM $_.Id 2>$null }
        foreach ($p in $load) { $p.WaitForExit(5000) | Out-Null }
        Close-GuestDisk -All -ErrorAction SilentlyContinue
        Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
    }

    It 'names every disk in order on warm launch <_> (four disks, busy cores)' -ForEach (1..8) {
        # Rotate which image goes first, so a name taken from the wrong image shows as a wrong size.
        $order = @($images[($_ % 4)..3]) + @(if ($_ % 4) { $images[0..(($_ % 4) - 1)] })
        $d = Open-GuestDisk -Path $order
        try {
            # Warm (after a second restore attaching the disks one at a time, when the guest
            # named them out of order), or on a machine this busy a cold boot: never wrong names.
            if ($d.LaunchMode -ne 'warm') { $d.WarmFallbackReason | Should -Match 'named out of order|did not become ready' }
            Write-Host "    launch: $($d.LaunchMode) $($d.WarmFallbackReason)"
            & $CheckNames $d $order
        }
        finally { Close-GuestDisk -Disk $d }
    }

    It 'names every disk in order on a cold boot' {
        $d = Open-GuestDisk -Path ($images[3], $images[1], $images[0], $images[2]) -ColdStart
        try {
            $d.LaunchMode | Should -Be 'cold'
            & $CheckNames $d ($images[3], $images[1], $images[0], $images[2])
        }
        finally { Close-GuestDisk -Disk $d }
    }

    It 'lands a write to /dev/sdX in the X-th image (<_>)' -ForEach 'warm', 'cold' {
        $order = $images[2], $images[0], $images[3], $images[1]
        $d = Open-GuestDisk -Path $order -Writable -ColdStart:($_ -eq 'cold')
        try {
            for ($i = 0; $i -lt 4; $i++) {
                $dev = '/dev/sd' + [char]([int][char]'a' + $i)
                $mark = [Text.Encoding]::ASCII.GetBytes("GFS-ORDER-$_-$i")
                Invoke-GuestFsApi -Disk $d pwrite_device -Arguments @{ device = $dev; content = $mark; offset = 4096 } | Should -Be $mark.Length
            }
        }
        finally { Close-GuestDisk -Disk $d }
        for ($i = 0; $i -lt 4; $i++) {
            $fs = [IO.File]::OpenRead($order[$i])
            try {
                $buf = [byte[]]::new(32); $null = $fs.Seek(4096, 'Begin'); $null = $fs.Read($buf, 0, 32)
            }
            finally { $fs.Dispose() }
            [Text.Encoding]::ASCII.GetString($buf).TrimEnd([char]0) | Should -Be "GFS-ORDER-$_-$i" -Because "a write to disk $i must land in $($order[$i])"
        }
    }
}
