# GuestFs demo: creates a disk image, opens it writable, writes and reads files,
# copies a 64 MiB file in and out with progress, and checks it by SHA-256.
param([string] $ModulePath = (Join-Path $PSScriptRoot '../out/GuestFs/GuestFs.psd1'))
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
foreach ($c in 'New-GuestDiskImage', 'Open-GuestDisk', 'Get-GuestFileSystem', 'Mount-GuestFs', 'Set-GuestContent', 'Copy-GuestItem', 'Get-GuestChildItem', 'Get-GuestContent', 'Close-GuestDisk') {
    if (-not (Get-Command $c -ErrorAction SilentlyContinue)) { throw "The module at $ModulePath does not export $c; rebuild it with ./build.ps1 -Task Build" }
}

$work = Join-Path ([IO.Path]::GetTempPath()) ("guestfs-demo-" + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory -Path $work | Out-Null
$disk = $null
try {
    Write-Host "`n## 1. A new 512 MiB qcow2 image with one ext4 partition" -ForegroundColor Cyan
    $image = New-GuestDiskImage -Path "$work/demo.qcow2" -Size 512MB -Format qcow2 -FileSystem ext4 -Label demo
    $image | Format-Table Name, Length, LastWriteTime | Out-Host

    Write-Host "## 2. Open it for writing (the appliance boots; -Verbose shows the stages)" -ForegroundColor Cyan
    $disk = Open-GuestDisk -Path $image.FullName -Writable -Verbose
    $disk | Format-Table | Out-Host

    Write-Host "## 3. Filesystems, and mount the ext4 one at /" -ForegroundColor Cyan
    Get-GuestFileSystem | Out-Host
    Get-GuestFileSystem | Where-Object Type -eq ext4 | Mount-GuestFs -MountPoint /

    Write-Host "## 4. Write files" -ForegroundColor Cyan
    New-GuestItem /etc -ItemType Directory | Out-Null
    Set-GuestContent /etc/motd -Value 'Hello from GuestFs', "written $(Get-Date -Format s)"
    'alpha', 'beta', 'gamma' | Set-GuestContent /etc/list.txt
    Get-GuestContent /etc/motd | Out-Host

    Write-Host "## 5. Copy a 64 MiB host file in and out (progress bar), compare SHA-256" -ForegroundColor Cyan
    $big = "$work/payload.bin"
    $bytes = [byte[]]::new(64MB); [Random]::new(42).NextBytes($bytes); [IO.File]::WriteAllBytes($big, $bytes)
    $sw = [Diagnostics.Stopwatch]::StartNew()
    Copy-GuestItem -LocalPath $big -Destination /payload.bin
    $in = $sw.Elapsed.TotalSeconds; $sw.Restart()
    New-Item -ItemType Directory "$work/out" | Out-Null
    Copy-GuestItem /payload.bin -Destination "$work/out/"
    $out = $sw.Elapsed.TotalSeconds
    $h1 = (Get-FileHash $big).Hash; $h2 = (Get-FileHash "$work/out/payload.bin").Hash
    Write-Host ("in: {0:0.0} s, out: {1:0.0} s, SHA-256 {2}" -f $in, $out, $(if ($h1 -eq $h2) { 'matches' } else { 'DIFFERS' }))
    if ($h1 -ne $h2) { throw 'the copied file differs from the original' }

    Write-Host "## 6. List the guest" -ForegroundColor Cyan
    Get-GuestChildItem / -Recurse | Out-Host

    Write-Host "## 7. Close (syncs the disk), reopen read-only and read back" -ForegroundColor Cyan
    Close-GuestDisk; $disk = $null
    $disk = Open-GuestDisk -Path $image.FullName
    Mount-GuestFs -Device /dev/sda1 -MountPoint /
    Get-GuestContent /etc/list.txt | Out-Host
    Close-GuestDisk; $disk = $null
    Write-Host "`nDemo finished." -ForegroundColor Green
}
finally {
    if ($disk) { Close-GuestDisk -Disk $disk }
    Remove-Item -Recurse -Force $work -ErrorAction SilentlyContinue
}
